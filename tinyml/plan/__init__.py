"""tinyml/plan"""
