"""The UDP doorbell: a ring in one process wakes the streams of the stream process on the same
host; anything but a store id is ignored."""

import socket

from app.events.doorbell import UdpDoorbell, make_doorbell, parse_address


def test_a_ring_reaches_the_listening_process_and_its_own_streams():
    streams = UdpDoorbell(("127.0.0.1", 0), listen=True)  # the stream process
    web = UdpDoorbell(streams.address)  # a web process ringing it
    far, near = streams.listener(7), web.listener(7)
    other_store = streams.listener(8)
    web.ring(7)
    assert far.wait(2.0) and near.wait(0.1)
    assert not other_store.wait(0.2)
    for listener in (far, near, other_store):
        listener.close()
    web.close()
    streams.close()


def test_a_datagram_that_is_not_a_store_id_wakes_nothing():
    streams = UdpDoorbell(("127.0.0.1", 0), listen=True)
    listener = streams.listener(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"7; DROP TABLE", streams.address)
        sender.sendto(b"-7", streams.address)
    assert not listener.wait(0.3)
    listener.close()
    streams.close()


def test_ringing_with_nobody_listening_is_harmless():
    lonely = UdpDoorbell(("127.0.0.1", 9))  # the discard port: no stream process there
    for _ in range(3):
        lonely.ring(1)
    lonely.close()
    assert parse_address("127.0.0.1:8002") == ("127.0.0.1", 8002)
    assert type(make_doorbell(None)).__name__ == "LocalDoorbell"
