"""platforms/nbgrader"""
