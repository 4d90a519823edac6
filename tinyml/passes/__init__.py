"""tinyml/passes"""
