"""Browser and HTTP tests of the real app. A package, so that its package-scoped app
servers and browser stop when these tests end rather than idling through the rest of the suite."""
