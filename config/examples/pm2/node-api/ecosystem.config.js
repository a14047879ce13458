// A Node HTTP API run by PM2 in cluster mode: one worker per CPU, restarted every night and when
// one grows past 300 MB. `clusterctl import ecosystem.config.js` turns it into a clusterd config.
module.exports = {
  apps: [
    {
      name: "api",
      script: "./dist/server.js",
      node_args: "--max-old-space-size=256",
      instances: "max",
      exec_mode: "cluster",
      max_memory_restart: "300M",
      cron_restart: "0 3 * * *",
      wait_ready: true,
      listen_timeout: 10000,
      kill_timeout: 5000,
      min_uptime: "10s",
      max_restarts: 10,
      exp_backoff_restart_delay: 100,
      out_file: "./logs/api.log",
      error_file: "./logs/api.log",
      merge_logs: true,
      log_date_format: "YYYY-MM-DD HH:mm:ss Z",
      env: {
        NODE_ENV: "development",
        PORT: 3000,
      },
      env_production: {
        NODE_ENV: "production",
        PORT: 8080,
      },
    },
  ],
};
