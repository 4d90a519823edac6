"""tinyml/target"""
