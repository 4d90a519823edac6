"""tinyml/ir"""
