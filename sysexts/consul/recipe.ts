/** Consul: the agent, upheld once /etc/consul.d/consul.hcl exists (tmpfiles copies a loopback-only default), as the consul user. */
import { hashicorpRecipe } from '../hashicorp.ts';

export default hashicorpRecipe('consul', 'HashiCorp Consul service mesh and service discovery');
