"""Calibration and evaluation data: every format read into the model's input shapes, and every bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinyml.errors import InputDataError
from tinyml.quant.data import InputSpec, choose, fingerprint, open_data, read_data, scale_pixels

IMG = [InputSpec("image", (8, 6, 3))]


def _image(path, size=(12, 10), color=(255, 0, 128), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


def test_npz_single_array_with_labels_and_choice(tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 8, 6, 3)).astype(np.float32)
    y = np.arange(50) % 4
    np.savez(tmp_path / "d.npz", inputs=x, y=y)
    data = read_data(tmp_path / "d.npz", IMG, limit=10, seed=3, labelled=True)
    chosen = choose(50, 10, 3)
    assert data.n == 10 and data.available == 50 and data.kind == "npz"
    assert np.array_equal(data.inputs[0], x[chosen]) and np.array_equal(data.labels, y[chosen])
    assert np.array_equal(chosen, np.sort(chosen)) and len(set(chosen.tolist())) == 10
    assert not np.array_equal(choose(50, 10, 4), chosen)  # the seed decides
    assert np.array_equal(choose(5, 10, 0), np.arange(5))  # fewer samples than asked: all, in order
    assert data.input_range is None  # float arrays are taken as they are
    assert data.sha256 == fingerprint(tmp_path / "d.npz")


def test_npz_arrays_named_after_inputs_one_hot_labels_and_uint8_pixels(tmp_path):
    specs = [InputSpec("a", (4,)), InputSpec("serving_default_b:0", (2, 2), aliases=("b",))]
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    b = np.array([[[0, 255], [51, 102]]] * 3, dtype=np.uint8)
    np.savez(tmp_path / "d.npz", b=b, a=a, labels=np.eye(5)[[4, 0, 2]])
    data = read_data(tmp_path / "d.npz", specs, input_range="-1..1", labelled=True)
    assert data.inputs[0].dtype == np.float32 and np.array_equal(data.inputs[0], a.astype(np.float32))
    assert np.allclose(data.inputs[1][0], [[-1, 1], [-0.6, -0.2]])  # uint8 pixels scaled like images
    assert data.input_range == "-1..1"
    assert data.labels.tolist() == [4, 0, 2]


def test_npz_shapes_that_fit(tmp_path):
    """A single sample without batch axis, or images without their channel axis of 1, still fit."""
    np.savez(tmp_path / "one.npz", np.ones((8, 6, 3), np.float32))
    assert read_data(tmp_path / "one.npz", IMG).inputs[0].shape == (1, 8, 6, 3)
    np.savez(tmp_path / "grey.npz", x=np.ones((5, 8, 6), np.float32))
    assert read_data(tmp_path / "grey.npz", [InputSpec("g", (8, 6, 1))]).inputs[0].shape == (5, 8, 6, 1)


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"x": np.ones((4, 8, 6), np.float32)}, ("'x' has shape (4, 8, 6)", "(n, 8, 6, 3)")),
        ({"x": np.ones((4, 8, 6, 3), bool)}, ("bool values",)),
        ({"x": np.array(["a", "b"])}, ("<U1 values",)),
        ({"x": np.full((2, 8, 6, 3), np.nan, np.float32)}, ("NaN",)),
        ({"p": np.ones((2, 8, 6, 3)), "q": np.ones((2, 8, 6, 3))}, ("no array for the model's input 'image'",)),
        ({"x": np.ones((3, 8, 6, 3)), "y": np.arange(4)}, ("'x' holds 3 samples, the labels 4",)),
        ({"x": np.ones((2, 8, 6, 3)), "y": np.array([0.5, 1])}, ("is not a list of class indices",)),
        ({"y": np.arange(3)}, ("no input arrays",)),
    ],
)
def test_npz_of_the_wrong_shape_or_type(tmp_path, arrays, words):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputDataError) as e:
        read_data(tmp_path / "bad.npz", IMG)
    for w in words:
        assert w in e.value.message, (w, e.value.message)
    assert e.value.exit_code == 13 and e.value.fix


def test_corrupt_and_pickled_npz(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.random.default_rng(0).normal(size=(20, 8, 6, 3)))
    for name, data in (("cut.npz", good.read_bytes()[:300]), ("text.npz", b"hello"), ("empty.npz", b"")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputDataError, match=r"not a readable \.npz file"):
            open_data(tmp_path / name)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    import zipfile

    with zipfile.ZipFile(tmp_path / "obj.npz", "w") as z:
        z.write(tmp_path / "obj.npy", "x.npy")
    with pytest.raises(InputDataError, match="Python objects"):
        open_data(tmp_path / "obj.npz")


@pytest.mark.parametrize(("input_range", "expected"), [("0..1", (1, 0, 128 / 255)), ("-1..1", (1, -1, 1 / 255))])
def test_image_folder_resized_and_scaled(tmp_path, input_range, expected):
    for i, ext in enumerate(("png", "bmp", "jpg")):
        _image(tmp_path / "imgs" / f"{i}.{ext}", size=(12 + i, 10))
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")
    data = read_data(tmp_path / "imgs", IMG, input_range=input_range)
    assert data.kind == "images" and data.inputs[0].shape == (3, 8, 6, 3) and data.labels is None
    # a flat colour survives bilinear resizing exactly in lossless formats
    assert np.allclose(data.inputs[0][:2].reshape(-1, 3), expected, atol=1e-6)
    assert np.allclose(data.inputs[0][2].reshape(-1, 3), expected, atol=0.05)  # JPEG is lossy
    assert data.input_range == input_range


def test_image_folder_grey_input_and_0_255(tmp_path):
    _image(tmp_path / "d" / "a.png", color=(30, 30, 30))
    data = read_data(tmp_path / "d", [InputSpec("g", (5, 7, 1))], input_range="0..255")
    assert data.inputs[0].shape == (1, 5, 7, 1) and np.allclose(data.inputs[0], 30)
    assert np.allclose(scale_pixels(np.array([0, 255], np.uint8), "0..255"), [0, 255])


def test_class_folders_give_sorted_labels(tmp_path):
    for cls, n in (("zebra", 2), ("cat", 3), ("dog", 1)):
        for i in range(n):
            _image(tmp_path / "d" / cls / f"{i}.png")
    src = open_data(tmp_path / "d")
    assert src.labelled and src.classes == ["cat", "dog", "zebra"] and src.count == 6
    data = read_data(tmp_path / "d", IMG, labelled=True)
    assert data.labels.tolist() == [0, 0, 0, 1, 2, 2]
    assert data.summary(IMG)["classes"] == 3


def test_unlabelled_folders_are_refused_for_eval(tmp_path):
    _image(tmp_path / "flat" / "a.png")
    with pytest.raises(InputDataError, match="no class sub-folders") as e:
        read_data(tmp_path / "flat", IMG, labelled=True)
    assert "sub-folder" in e.value.fix
    _image(tmp_path / "mixed" / "a.png")
    _image(tmp_path / "mixed" / "cat" / "b.png")
    with pytest.raises(InputDataError, match="mixes images at its top level with class sub-folders"):
        read_data(tmp_path / "mixed", IMG, labelled=True)
    assert read_data(tmp_path / "mixed", IMG).n == 2  # calibration needs no labels
    np.savez(tmp_path / "x.npz", x=np.ones((2, 8, 6, 3)))
    with pytest.raises(InputDataError, match="holds no labels"):
        read_data(tmp_path / "x.npz", IMG, labelled=True)


def test_empty_mixed_and_damaged_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="holds no data"):
        open_data(tmp_path / "empty")
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    with pytest.raises(InputDataError, match="holds no data"):
        open_data(tmp_path / "txt")
    _image(tmp_path / "both" / "a.png")
    (tmp_path / "both" / "b.bin").write_bytes(b"\0" * 4)
    with pytest.raises(InputDataError, match=r"mixes images and \.bin tensors"):
        open_data(tmp_path / "both")
    _image(tmp_path / "broken" / "a.png")
    (tmp_path / "broken" / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputDataError, match=r"b\.jpg: cannot read this image"):
        read_data(tmp_path / "broken", IMG)
    with pytest.raises(InputDataError, match="no file or folder"):
        open_data(tmp_path / "missing")


def test_images_for_a_model_that_takes_no_image(tmp_path):
    _image(tmp_path / "d" / "a.png")
    with pytest.raises(InputDataError, match="holds images, but the model's inputs are 'v' \\(10,\\)"):
        read_data(tmp_path / "d", [InputSpec("v", (10,))])


def test_bin_folder(tmp_path):
    specs = [InputSpec("a", (2, 3)), InputSpec("b", (4,))]
    rng = np.random.default_rng(0)
    samples = [rng.normal(size=10).astype(np.float32) for _ in range(3)]
    for i, s in enumerate(samples):
        (tmp_path / "d").mkdir(exist_ok=True)
        s.tofile(tmp_path / "d" / f"{i}.bin")
    data = read_data(tmp_path / "d", specs)
    assert data.kind == "bin" and data.input_range is None
    assert np.array_equal(data.inputs[0][1], samples[1][:6].reshape(2, 3))
    assert np.array_equal(data.inputs[1][2], samples[2][6:])
    samples[0].astype(np.int8).tofile(tmp_path / "d" / "9.bin")
    with pytest.raises(InputDataError, match=r"9\.bin: holds 10 bytes; one sample needs 40 bytes") as e:
        read_data(tmp_path / "d", specs)
    assert "float32" in e.value.fix


def test_fingerprint_follows_content(tmp_path):
    _image(tmp_path / "d" / "a.png")
    before = fingerprint(tmp_path / "d")
    _image(tmp_path / "d" / "a.png", color=(1, 2, 3))
    assert fingerprint(tmp_path / "d") != before
    (tmp_path / "d" / "a.png").rename(tmp_path / "d" / "b.png")
    assert fingerprint(tmp_path / "d") not in (before,)
