"""Reference solutions for the unit "from convolutions to convolutional networks".

Each module is self-contained (it imports only torch and the standard library),
so the same file can be graded as a submission: that is how the hidden suites
prove that the reference scores 100%.
"""
