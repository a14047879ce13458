// A Python queue worker run by PM2: two processes, restarted when they crash, stopped gently.
module.exports = {
  apps: [
    {
      name: "queue-worker",
      script: "worker.py",
      interpreter: "python3",
      args: ["--queue", "emails", "--batch", "10"],
      instances: 2,
      autorestart: true,
      max_restarts: 5,
      min_uptime: 5000,
      restart_delay: 2000,
      kill_timeout: 3000,
      env: {
        PYTHONUNBUFFERED: "1",
        QUEUE_URL: "redis://127.0.0.1:6379/0",
      },
    },
  ],
};
