/** CBLAS enum values (cblas.h): row-major storage, no transpose, transpose. Node-free, for the kernels. */
export const CBLAS_ROW_MAJOR = 101;
export const CBLAS_NO_TRANS = 111;
export const CBLAS_TRANS = 112;
