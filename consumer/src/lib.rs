//! The queue consumer worker: built in issue #3.
