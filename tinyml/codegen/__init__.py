"""tinyml/codegen"""
