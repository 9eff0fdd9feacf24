#pragma once
#include <zmq.h>
// The Poller's sub-millisecond timeouts (zmq_poll counts in milliseconds).
#include <sys/timerfd.h>
