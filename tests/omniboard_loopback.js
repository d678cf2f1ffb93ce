// Preloaded into Omniboard (`node -r tests/omniboard_loopback.js .../omniboard`) by tests/omniboard.py:
// Omniboard calls `app.listen(PORT)`, which binds every interface, and it has no authentication while its
// generic routes can delete whole collections. A listen() given only a port binds 127.0.0.1 instead.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args.length && (typeof args[0] === 'number' || /^\d+$/.test(String(args[0]))) &&
      (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
