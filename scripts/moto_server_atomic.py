"""moto in server mode, with DynamoDB requests applied one at a time, and cheap transactions.

Real DynamoDB applies each request atomically: a conditional write's check and write cannot
interleave with another request on the same item. moto's threaded server runs requests
concurrently without such a lock, so two concurrent conditional writes can both succeed,
which is exactly what the service's claims, leases and de-duplication rely on never happening.
Serialising DynamoDB requests restores the guarantee; everything else (SQS long polls, KMS)
stays concurrent.

moto 5.2.5's TransactWriteItems deep-copies the whole table, once per operation, so that it
can roll back a cancelled transaction. With thousands of items every webhook then copies
megabytes: the 5,000-invoice bulk benchmark drove moto to 10 GiB and a crawl. Since requests
are serialised, copying only the items the transaction touches (and putting them back when
it fails) gives the same all-or-nothing outcome.

Its Query on the table (not an index) sorts every item of every partition and then keeps
those of the one partition asked for, so each query costs the whole table: with 50 tenants
the emulator spent 80 % of its time there. Handing it the one partition gives the same
answer.

Its SQS queue builds every attribute, approximate message counts included (each a pass over
every message), whenever one is read: SendMessage reads one, so sending to a queue holding
thousands of messages slowed down with each. Attributes are now computed when read.
"""

import argparse
import copy
import json
import os
import signal
import threading
from collections.abc import Mapping

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

DYNAMODB_LOCK = threading.Lock()


class _CopyExceptTables:
    """`copy` as moto's DynamoDB backend sees it: a whole table is not copied."""

    def deepcopy(self, value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def _touched_key(backend, operation):
    """(table, hash key, range key) of one transaction operation, or None if malformed."""
    try:
        _, op = next(iter(operation.items()))
        table = backend.tables.get(op.get("TableName"))
        key = op["Item"] if "Item" in op else op["Key"]
        hash_key = DynamoType(key[table.hash_key_attr])
        range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        return table, hash_key, range_key
    except Exception:  # the original reports malformed operations itself
        return None


def _stored(table, hash_key, range_key):
    if range_key is None:
        return table.items.get(hash_key)
    return table.items.get(hash_key, {}).get(range_key)


def _restore(table, hash_key, range_key, item):
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


class _QueueAttributes(Mapping):
    """moto's `Queue.attributes`, each value computed when it is read."""

    def __init__(self, queue):
        self._queue = queue
        names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            names += queue.KMS_ATTRIBUTES
        self._names = names
        self._extra = {}
        if queue.policy:
            self._extra["Policy"] = queue.policy
        if queue.redrive_policy:
            self._extra["RedrivePolicy"] = json.dumps(queue.redrive_policy)

    def __getitem__(self, name):
        if name in self._extra:
            return self._extra[name]
        if name not in self._names:
            raise KeyError(name)
        value = getattr(self._queue, camelcase_to_underscores(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __iter__(self):
        return iter(self._names + list(self._extra))

    def __len__(self):
        return len(self._names) + len(self._extra)


def _patch_queue_attributes():
    Queue.attributes = property(_QueueAttributes)


def _patch_partition_queries():
    original = Table.query

    def query(self, hash_key, *args, **kwargs):
        on_index = kwargs.get("index_name") or (len(args) > 6 and args[6])
        if on_index or hash_key is None or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        partition = list(self.items.get(hash_key, {}).values())
        # Requests are serialised, so shadowing the method for this one call is safe.
        self.all_items = lambda: partition
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query


def _patch_transactions():
    dynamodb_models.copy = _CopyExceptTables()
    original = dynamodb_models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        saved = []
        for operation in transact_items:
            touched = _touched_key(self, operation)
            if touched is not None:
                saved.append((*touched, copy.deepcopy(_stored(*touched))))
        try:
            return original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Exit at once, even with request threads still busy (an SQS long poll lasts up to 20 s).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    _patch_transactions()
    _patch_partition_queries()
    _patch_queue_attributes()
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
