"""tinyml/frontend"""
