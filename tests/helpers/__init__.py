"""Helpers for the tests (not tests): the app runner, the local Hub server and its client, the bad-input case
table, the training fault injector and the independent training loop."""
