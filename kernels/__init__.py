"""Pure array kernels of photonmc: sampling, overlaps, bin integrals, histograms, dead time.

Nothing here knows about files, configs or stages; everything is a pure `jax.numpy`
function of arrays, so it can be jitted, vmapped and differentiated. Installed as
`photonmc.kernels`.
"""
