"""tinyml/measure"""
