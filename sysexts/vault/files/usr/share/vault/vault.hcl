# Default Vault server configuration of the vault sysext, copied to /etc/vault.d/vault.hcl once.
# Every option: https://developer.hashicorp.com/vault/docs/configuration
ui = true

storage "file" {
  path = "/var/lib/vault/data"
}

# Loopback without TLS until you configure certificates; never expose this listener as is.
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = 1
}
