# Default Consul agent configuration of the consul sysext, copied to /etc/consul.d/consul.hcl once.
# Every option: https://developer.hashicorp.com/consul/docs/agent/config
data_dir = "/var/lib/consul"
# Client interfaces (HTTP, DNS) on loopback until you choose otherwise.
client_addr = "127.0.0.1"
#datacenter = "dc1"
#server = true
#bootstrap_expect = 3
#retry_join = ["10.0.0.10"]
#encrypt = "..."
