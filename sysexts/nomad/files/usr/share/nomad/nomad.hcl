# Default Nomad agent configuration of the nomad sysext, copied to /etc/nomad.d/nomad.hcl once:
# a single node that is both server and client. Every option: https://developer.hashicorp.com/nomad/docs/configuration
data_dir  = "/var/lib/nomad"
bind_addr = "0.0.0.0"

server {
  enabled          = true
  bootstrap_expect = 1
}

client {
  enabled = true
  servers = ["127.0.0.1"]
}
