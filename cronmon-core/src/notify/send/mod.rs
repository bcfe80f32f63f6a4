//! Sending one message to one channel (being written).
