// The label every simulated board carries (fleet sim agents), by which the soak and the CLI tell them from real ones.
export const SIM_LABEL = 'fleet.sim';
