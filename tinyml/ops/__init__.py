"""tinyml/ops"""
