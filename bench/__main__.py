"""`python -m bench` (make bench): the acknowledgement benchmark with its defaults."""

from bench.ack import main

main()
