"""platforms/gradescope"""
