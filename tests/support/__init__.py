"""What the tests use to start real processes (hosts, managers, Python), in one place."""
