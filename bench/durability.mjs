// Durability of the LevelDB stores used by the CouchDB-protocol peer.
//
// LevelDOWN (the LevelDB binding under PouchDB's `leveldb` adapter, both in
// pouchdb-server 4.2.0 -> pouchdb-adapter-leveldb 7.3.1 -> leveldown 5.6.0,
// and in the pouchdb 9.0.0 client -> leveldown 6.1.1) writes with LevelDB's
// default `sync: false`: a write is in the OS page cache when PouchDB
// acknowledges it, and is lost if the machine (not the process) crashes
// before the kernel flushes it. Neither pouchdb-server nor express-pouchdb
// nor the PouchDB adapter has a setting to change that (the adapter calls
// `db.batch(ops, callback)` with no options; pouchdb-server's only storage
// switches are --in-memory, --sqlite, --level-backend and --level-prefix).
//
// `fsync` mode therefore patches LevelDOWN's prototype so that every write
// (put, del, array batch, chained batch) is issued with `sync: true`: LevelDB
// then fdatasync()s its write-ahead log before acknowledging. PouchDB's
// leveldb adapter writes one LevelDB batch per bulkDocs call (one per
// `_bulk_docs` request on the server) and one per `_local` checkpoint write,
// so this is one fsync per request that writes, the same guarantee CouchDB
// 3.x gives (it commits, with fsync, before answering a write) and the one
// SQLite gives with synchronous=FULL. `stock` mode leaves LevelDOWN as it is.

import { createRequire } from 'node:module';

export const MODES = ['fsync', 'stock'];

// Makes every write of the LevelDOWN module that `require('leveldown')` loads
// from the file `requireFrom` (a path inside the package that uses it) go
// with sync: true. Returns the patched leveldown's version.
export function forceSyncWrites(requireFrom) {
  const req = createRequire(requireFrom);
  const leveldownPath = req.resolve('leveldown');
  const LevelDOWN = req('leveldown');
  const ChainedBatch = createRequire(leveldownPath)('./chained-batch.js');
  const version = createRequire(leveldownPath)('./package.json').version;
  const proto = LevelDOWN.prototype;
  if (proto.__fitSyncWrites) return version;

  const withSync = (options) => Object.assign({}, options, { sync: true });
  const put = proto._put;
  proto._put = function (key, value, options, callback) {
    return put.call(this, key, value, withSync(options), callback);
  };
  const del = proto._del;
  proto._del = function (key, options, callback) {
    return del.call(this, key, withSync(options), callback);
  };
  const batch = proto._batch;
  proto._batch = function (operations, options, callback) {
    return batch.call(this, operations, withSync(options), callback);
  };
  const write = ChainedBatch.prototype._write;
  ChainedBatch.prototype._write = function (options, callback) {
    return write.call(this, withSync(options), callback);
  };
  proto.__fitSyncWrites = true;
  return version;
}
