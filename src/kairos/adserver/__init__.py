"""The ad server: the object model, the in-memory catalog and the decision engine."""
