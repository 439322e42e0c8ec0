//! Image operations shared by the wrappers and the native fast paths.
