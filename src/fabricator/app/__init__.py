"""The application on top of the library: recipes, runs, output folders, cards, push, review, the CLI.

The library (``fabricator.DatasetGenerator`` and the pipeline under it) never imports this package.
"""
