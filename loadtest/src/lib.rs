//! Load generator for the chat node.
