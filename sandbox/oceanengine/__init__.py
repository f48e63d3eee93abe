"""oceanengine simulator."""
