"""Workers: the Temporal worker process and the activities that carry side effects."""
