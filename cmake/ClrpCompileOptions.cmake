# Warnings and sanitizers, applied through an interface target so that
# third-party code (libtorch headers) is not affected.
add_library(clrp_warnings INTERFACE)
target_compile_options(clrp_warnings INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)

# RelWithDebInfo keeps line tables and function names only (-g1, after
# CMake's -g): backtraces, perf and gdb's `bt` still name every frame, and
# files that include libtorch compile in about half the time of full -g
# (measured: src/lrp/rules.cpp 22 s -> 11 s). Debug builds keep full -g.
add_compile_options($<$<AND:$<CONFIG:RelWithDebInfo>,$<COMPILE_LANGUAGE:C,CXX>>:-g1>)

if(CLRP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
