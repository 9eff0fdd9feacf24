#pragma once
// liblzma (Debian liblzma-dev): the .xz decoder the trainer reads the committed transaction log with.
#include <lzma.h>

// LZMA_CONCATENATED is a function-like macro (UINT32_C(0x08)) that Swift cannot import; this constant carries it.
static const uint32_t clzma_concatenated = LZMA_CONCATENATED;
