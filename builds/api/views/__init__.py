"""The builds app's API views: projects, builds, logs."""
