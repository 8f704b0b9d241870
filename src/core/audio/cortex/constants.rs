//! The constants of spec §3.2 (units mV, ms, nS, pF, pA), each once; `docs/cortex.md` lists them with their sources.

pub(super) const E_L: f32 = -60.0;
pub(super) const V_E: f32 = 0.0;
pub(super) const V_I: f32 = -67.0;
pub(super) const SIGMA: f32 = 20.0;
pub(super) const TAU_W: f32 = 150.0;
pub(super) const B_ADAPT: f32 = 8.0;
pub(super) const G_SD: f32 = 18.75;
pub(super) const TAU_DF: f32 = 10.0;
pub(super) const TAU_DS1: f32 = 1000.0;
pub(super) const TAU_DS2: f32 = 250.0;
pub(super) const TAU_IF: f32 = 1.0;
pub(super) const Q: f32 = 0.4;
/// 1 nA in pA: the unit of the thalamic term `q·I_Fast·(1 nA)`.
pub(super) const NANOAMP: f32 = 1000.0;
pub(super) const V_SPIKE: f32 = 20.0;
pub(super) const V_RESET: f32 = -60.0;
pub(super) const T_REF: f32 = 2.0;
/// Floor applied to every membrane potential after a step (also turns an impossible NaN into a finite value).
pub(super) const V_FLOOR: f32 = -150.0;
/// Exponent arguments below this are skipped (the term is < 1e-8 pA, below f32 resolution of the other currents).
pub(super) const EXP_SKIP: f32 = -20.0;
/// Exponent arguments are capped here: the cell crosses threshold within the step either way, and v stays finite.
pub(super) const EXP_CAP: f32 = 40.0;
/// The synaptic conductances (nS) and the thalamic fast input `I_Fast` (in [0, 1]) decay exponentially toward zero;
/// below this they are set to zero (`fastmath::floored`). Left alone they would decay through the subnormal floats,
/// and x86 cores take a microcode assist of about a hundred cycles on every instruction that reads or produces a
/// subnormal (each `I_Fast` reaches every cell of its group through the drive): measured on an Intel Xeon
/// (Sapphire Rapids class), 26 % of the audio stage at AVX2, 35 % at AVX-512. A conductance of 1e-30 nS or an
/// `I_Fast` of 1e-30 moves a current by less than 1e-26 pA, far below f32's resolution of the cells' other currents
/// (pA-scale), so the spike trains are unchanged (pinned in tests/cortex.rs); and a value at the floor after one
/// more step's decay (a factor ≥ 0.5) is still a normal float.
pub(super) const DECAY_FLOOR: f32 = 1e-30;

// Pyramidal cells.
pub(super) const C_E: f32 = 180.0;
pub(super) const GL_E: f32 = 6.25;
pub(super) const DT_E: f32 = 1.0;
pub(super) const VT_E: f32 = -40.0;
pub(super) const A_E: f32 = 4.0;
pub(super) const I_E: f32 = 350.0;
pub(super) const V0_E: f32 = -50.0;
// PV cells.
pub(super) const C_P: f32 = 80.0;
pub(super) const GL_P: f32 = 5.0;
pub(super) const DT_P: f32 = 0.25;
pub(super) const VT_P: f32 = -40.0;
pub(super) const I_P: f32 = 50.0;
// SOM cells.
pub(super) const C_S: f32 = 80.0;
pub(super) const GL_S: f32 = 5.0;
pub(super) const DT_S: f32 = 1.0;
pub(super) const VT_S: f32 = -45.0;
pub(super) const A_S: f32 = 4.0;
pub(super) const I_S: f32 = 100.0;

// Conductance maxima 20·W_XY nS (X post, Y pre) and decay times.
pub(super) const GMAX_EE: f32 = 20.0;
pub(super) const GMAX_EP: f32 = 40.0;
pub(super) const GMAX_ES: f32 = 20.0;
pub(super) const GMAX_PE: f32 = 2.0;
pub(super) const GMAX_PP: f32 = 40.0;
pub(super) const GMAX_PS: f32 = 40.0;
pub(super) const GMAX_SE: f32 = 120.0;
pub(super) const TAU_EE: f32 = 1.0;
pub(super) const TAU_EP: f32 = 1.0;
pub(super) const TAU_ES: f32 = 1.0;
pub(super) const TAU_PE: f32 = 25.0;
pub(super) const TAU_PP: f32 = 1.0;
pub(super) const TAU_PS: f32 = 1.0;
pub(super) const TAU_SE: f32 = 15.0;
pub(super) const P_EE: f64 = 0.1;
pub(super) const P_OTHER: f64 = 0.6;
