"""moto in server mode, with DynamoDB requests applied one at a time.

Real DynamoDB applies each request atomically: a conditional write's check and write cannot
interleave with another request on the same item. moto's threaded server runs requests
concurrently without such a lock, so two concurrent conditional writes can both succeed,
which is exactly what the service's claims, leases and de-duplication rely on never happening.
Serialising DynamoDB requests restores the guarantee; everything else (SQS long polls, KMS)
stays concurrent.
"""

import argparse
import os
import signal
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

DYNAMODB_LOCK = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Exit at once, even with request threads still busy (an SQS long poll lasts up to 20 s).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    dispatcher = DomainDispatcherApplication(create_backend_app)

    def app(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with DYNAMODB_LOCK:
                # Consume the whole response while holding the lock.
                return [b"".join(dispatcher(environ, start_response))]
        return dispatcher(environ, start_response)

    run_simple(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
