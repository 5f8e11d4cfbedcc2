# Every external dependency of clrp is found here, once.

# --- MPI --------------------------------------------------------------------
find_package(MPI REQUIRED COMPONENTS C CXX)

# --- parallel HDF5 ----------------------------------------------------------
# Debian's parallel HDF5 ships no CMake package; FindHDF5 locates it when told
# to prefer the parallel build. A serial HDF5 cannot write the campaign store
# collectively, so configuring against one is an error, not a fallback.
set(HDF5_PREFER_PARALLEL ON)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "clrp needs the parallel (MPI) build of HDF5, but the HDF5 found at "
    "'${HDF5_INCLUDE_DIRS}' is serial. On Debian: apt-get install libhdf5-openmpi-dev "
    "(scripts/bootstrap.sh does this), or point HDF5_ROOT at a parallel build.")
endif()
add_library(clrp_hdf5 INTERFACE)
target_include_directories(clrp_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(clrp_hdf5 INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)
target_compile_definitions(clrp_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})

# --- Boost.Serialization (messages between ranks) ----------------------------
find_package(Boost 1.74 REQUIRED COMPONENTS serialization)

# --- header-only helpers ------------------------------------------------------
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

# --- libtorch from the project's Python virtualenv -----------------------------
# The torch wheel carries libtorch. We import its libraries directly instead of
# through TorchConfig.cmake, whose CUDA probing drags nvcc flags into every
# target; CUDA support is switched on separately below.
set(CLRP_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python interpreter whose torch package provides libtorch")
if(NOT EXISTS "${CLRP_PYTHON}")
  message(FATAL_ERROR "No Python at CLRP_PYTHON='${CLRP_PYTHON}'. Run scripts/bootstrap.sh "
                      "first, or pass -DCLRP_PYTHON=/path/to/python with torch installed.")
endif()
execute_process(
  COMMAND "${CLRP_PYTHON}" -c
    "import os, torch; print(os.path.dirname(torch.__file__)); print(torch.__version__); print(int(torch.compiled_with_cxx11_abi())); print(int(torch.backends.cuda.is_built()))"
  OUTPUT_VARIABLE _torch_info RESULT_VARIABLE _torch_rc ERROR_VARIABLE _torch_err
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _torch_rc EQUAL 0)
  message(FATAL_ERROR "Cannot import torch with ${CLRP_PYTHON}: ${_torch_err}")
endif()
string(REPLACE "\n" ";" _torch_info "${_torch_info}")
list(GET _torch_info 0 TORCH_DIR)
list(GET _torch_info 1 TORCH_VERSION)
list(GET _torch_info 2 TORCH_CXX11_ABI)
list(GET _torch_info 3 TORCH_HAS_CUDA)
message(STATUS "libtorch ${TORCH_VERSION} from ${TORCH_DIR} (cxx11 abi ${TORCH_CXX11_ABI}, cuda ${TORCH_HAS_CUDA})")

add_library(clrp_torch INTERFACE)
target_include_directories(clrp_torch SYSTEM INTERFACE
  ${TORCH_DIR}/include ${TORCH_DIR}/include/torch/csrc/api/include)
target_compile_definitions(clrp_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=${TORCH_CXX11_ABI})
# libtorch_cpu.so exports its own statically linked copy of parts of
# std::filesystem (and the thin libtorch.so a broken one). libstdc++ is put in
# the search order ahead of them so that every clrp binary binds the system's.
# libtorch.so itself is not needed: ATen lives in libtorch_cpu.so.
target_link_libraries(clrp_torch INTERFACE
  "-Wl,--push-state,--no-as-needed" stdc++ "-Wl,--pop-state"
  ${TORCH_DIR}/lib/libtorch_cpu.so ${TORCH_DIR}/lib/libc10.so)
set(CMAKE_BUILD_RPATH "${TORCH_DIR}/lib")
set(CMAKE_INSTALL_RPATH "${TORCH_DIR}/lib")

# --- CUDA and NCCL (optional) ---------------------------------------------------
set(CLRP_HAVE_CUDA OFF)
if(NOT CLRP_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND NCCL_LIBRARY AND NCCL_INCLUDE_DIR
     AND TORCH_HAS_CUDA)
    set(CLRP_HAVE_CUDA ON)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 90)  # H100/H200; override on the command line
    endif()
    enable_language(CUDA)
    add_library(clrp_cuda INTERFACE)
    target_include_directories(clrp_cuda SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    # libtorch_cuda is not linked: clrp loads it on the first CUDA request
    # (util/torch_cuda.cpp), so CPU runs do not pay for loading it.
    target_link_libraries(clrp_cuda INTERFACE CUDA::cudart ${NCCL_LIBRARY})
    target_compile_definitions(clrp_cuda INTERFACE CLRP_HAVE_CUDA=1)
    message(STATUS "CUDA ${CUDAToolkit_VERSION} and NCCL (${NCCL_LIBRARY}): GPU build on")
  elseif(CLRP_CUDA STREQUAL "ON")
    message(FATAL_ERROR "CLRP_CUDA=ON but CUDA (nvcc, toolkit), NCCL or a CUDA-enabled torch is missing")
  else()
    message(STATUS "CUDA/NCCL not found: CPU-only build")
  endif()
endif()
