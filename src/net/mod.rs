//! Socket layer: binds sockets (socket2), runs the sans-IO cores, handles shutdown.
