/** Nomad: the agent, enabled by the user (a node is a server, a client or both), running as root as clients must. */
import { hashicorpRecipe } from '../hashicorp.ts';

export default hashicorpRecipe('nomad', 'HashiCorp Nomad workload orchestrator');
