// What every merge method works on: one module's low-rank factors from each input that has it.

// Adapter i's factors for one module: A is r × in and B is out × r, both row-major (PEFT's
// layout), and c = weight · scale, the coefficient of B·A in the merged delta.
export interface Factors {
  input: number; // the input's position on the command line, for seeding and messages
  r: number;
  A: Float32Array;
  B: Float32Array;
  c: number;
}

export interface ModuleTask {
  module: string;
  out: number;
  in: number;
  rank: number; // the output rank; results with fewer columns are padded with zeros
  factors: Factors[];
}

export interface ModuleResult {
  A: Float32Array; // rank × in
  B: Float32Array; // out × rank
  // ‖ΔW‖²_F of the exact weighted sum, and ‖ΔW − B'A'‖²_F: how much the result leaves out.
  norm2: number;
  error2: number;
}

export type MajoritySign = 'total' | 'frequency';

export interface MethodParams {
  density?: number; // ties, dare: fraction of entries kept
  majoritySign?: MajoritySign; // ties (default total); dare: elects signs when given
  seed?: number; // dare
}
