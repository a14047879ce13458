// The API: answers every request with the worker that served it. PORT comes from env (env_production
// under `clusterd --env production`); in cluster mode each worker's listen() gets the master's socket.
const http = require("http");

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({ pid: process.pid, worker: process.env.CLUSTER_WORKER_ID, env: process.env.NODE_ENV }) + "\n");
});
server.listen(port, () => {
  console.log(`api ${process.pid} listening on ${port}`);
  if (process.send) process.send("ready"); // PM2's wait_ready
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
