"""The chaos runner: users chat while processes are SIGKILLed; Temporal history says whether promises held."""
