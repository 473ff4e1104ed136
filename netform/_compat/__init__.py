"""The one place where netform may touch private Keras and TensorFlow APIs.

Each module here wraps one private name (``keras.src``, ``tensorflow.python``,
underscore attributes) with a comment saying why no public API does the job,
so that a Keras or TensorFlow upgrade is a change to this folder only.
"""
