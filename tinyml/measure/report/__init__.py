"""tinyml/measure/report"""
