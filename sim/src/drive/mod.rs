//! The driving simulator (rapier3d), built in the driving issue.
